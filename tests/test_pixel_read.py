"""A workspace made before photos with a colour profile were read converted to sRGB (2026-12-06) kept those
photos' old values in its catalog and caches (audit DA MED-3): the commands that fill them compute them again,
once, for those photos alone (curate.vision.pixel_read)."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import REALDATA, jpeg_bytes

from curate import stage_rules
from curate.embed import EmbedConfig, EmbeddingCache, run_embed
from curate.filters.run import ensure_features, run_filter
from curate.filters.stage import FilterConfig
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.objectstore import locator
from curate.vision import features, pixel_read
from curate.workspace import Workspace, read_catalog, write_catalog

FERRARI = REALDATA / "flickr-ferrari"
OLD_HASH = "0123456789abcdef"


@pytest.fixture(scope="module")
def real_photos():
    """Two real photos with an Adobe RGB or other non-sRGB profile and two sRGB or unprofiled ones."""
    if not FERRARI.is_dir():
        pytest.skip(f"needs {FERRARI} (../shared/realdata is absent in this checkout)")
    other, plain = [], []
    for path in sorted(FERRARI.rglob("*.jpg")):
        (other if pixel_read.reads_through_profile(path) else plain).append(path)
    assert len(other) >= 2 and len(plain) >= 2
    return other[:2], plain[:2]


def _workspace(tmp_path, real_photos) -> tuple[Workspace, set[str]]:
    """A workspace of the four photos, ingested today, and the sha256s of the two that read through a profile."""
    folder = tmp_path / "photos" / "ferrari"
    folder.mkdir(parents=True)
    other, plain = real_photos
    for path in [*other, *plain]:
        shutil.copy(path, folder / path.name)
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, FolderOptions(folder=tmp_path / "photos"))
    profiled = {hashlib.sha256(path.read_bytes()).hexdigest() for path in other}
    assert profiled <= set(read_catalog(ws)["sha256"])
    return ws, profiled


def test_which_photos_read_otherwise(real_photos, tmp_path):
    other, plain = real_photos
    assert all(pixel_read.reads_through_profile(path) for path in other)
    assert not any(pixel_read.reads_through_profile(path) for path in plain)
    flat = tmp_path / "flat.jpg"
    flat.write_bytes(jpeg_bytes())
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    assert pixel_read.reads_through_profile(flat) is False
    assert pixel_read.reads_through_profile(broken) is None  # not known: a place is not marked while one is so


def test_a_new_workspace_is_marked_and_an_old_one_is_not_until_its_filter(real_photos, tmp_path):
    ws, _ = _workspace(tmp_path, real_photos)
    assert pixel_read.current(ws.cache_dir)  # ingest filled it from nothing, the current way
    (ws.cache_dir / pixel_read.MARK).unlink()
    run_filter(ws, FilterConfig(), engine="pandas")
    assert pixel_read.current(ws.cache_dir)


def test_an_old_workspaces_features_are_measured_again_for_the_profiled_photos_alone(real_photos, tmp_path):
    ws, profiled = _workspace(tmp_path, real_photos)
    today = read_catalog(ws).set_index("sha256")
    old = read_catalog(ws)
    for name in ("phash", "phash_rot90"):  # what the old reading measured: other values, for every photo
        old[name] = OLD_HASH
    old["chroma_mean"] = -1.0
    old["phash_rot180"] = None  # and a column added since, which every photo lacks (as from an older curate)
    write_catalog(ws, old)
    (ws.cache_dir / pixel_read.MARK).unlink()

    catalog, bordered, pending = ensure_features(ws, read_catalog(ws), workers=1)
    assert bordered and pending == set()
    by_sha = catalog.set_index("sha256")
    for sha in by_sha.index:
        if sha in profiled:  # read again: today's values
            assert by_sha.loc[sha, "phash"] == today.loc[sha, "phash"] != OLD_HASH
            assert by_sha.loc[sha, "chroma_mean"] == pytest.approx(today.loc[sha, "chroma_mean"])
        else:  # read the same way by both: only what it lacked is filled
            assert by_sha.loc[sha, "phash"] == OLD_HASH and by_sha.loc[sha, "chroma_mean"] == -1.0
        assert by_sha.loc[sha, "phash_rot180"] == today.loc[sha, "phash_rot180"]

    (ws.cache_dir / pixel_read.MARK).write_text("2\n")  # marked: nothing is read again
    catalog, _, _ = ensure_features(ws, read_catalog(ws), workers=1)
    assert (catalog["phash"] == OLD_HASH).all()


def test_a_profiled_photos_thumbnail_is_replaced_but_no_other(tmp_path):
    features.add_to_thumbnail_cache(tmp_path, {"a": b"old-a", "b": b"old-b"})
    added = features.add_to_thumbnail_cache(tmp_path, {"a": b"new-a", "b": b"new-b", "c": b"c"}, replace={"a"})
    assert added == 2
    assert features.read_thumbnail_cache(tmp_path) == {"a": b"new-a", "b": b"old-b", "c": b"c"}


def _fake_cache(ws: Workspace, shas: list[str], key: str = "fake", folder: str = "embeddings") -> EmbeddingCache:
    cache = EmbeddingCache(ws, key, folder)
    cache.append(shas, np.arange(len(shas) * 4, dtype=np.float32).reshape(-1, 4) + 1, np.ones(len(shas), bool))
    return cache


def test_a_cache_begun_today_is_marked_and_an_unmarked_one_forgets_the_profiled_photos(real_photos, tmp_path):
    ws, profiled = _workspace(tmp_path, real_photos)
    images = read_catalog(ws)[["sha256", "image_path"]]
    cache = _fake_cache(ws, images["sha256"].tolist())
    assert pixel_read.current(cache.dir)
    assert cache.forget_read_otherwise(images, locator(ws), 1) == 0  # marked: nothing to forget

    (cache.dir / pixel_read.MARK).unlink()
    cache = EmbeddingCache(ws, "fake")
    assert cache.forget_read_otherwise(images, locator(ws), 1) == 2
    assert set(cache.missing(images["sha256"].tolist())) == profiled
    assert pixel_read.current(cache.dir)
    assert EmbeddingCache(ws, "fake").forget_read_otherwise(images, locator(ws), 1) == 0


def test_an_old_vector_of_an_image_gone_from_the_catalog_is_judged_when_it_comes_back(real_photos, tmp_path):
    """Review DG 5: an unmarked cache was judged on the catalog's images only, then marked as a whole, so the old
    vector of a profiled photo out of the catalog then (dropped by a re-ingest, say) was trusted when it came back."""
    ws, profiled = _workspace(tmp_path, real_photos)
    images = read_catalog(ws)[["sha256", "image_path"]]
    cache = _fake_cache(ws, images["sha256"].tolist())
    (cache.dir / pixel_read.MARK).unlink()  # an old cache
    away = sorted(profiled)[0]
    cache = EmbeddingCache(ws, "fake")
    assert cache.forget_read_otherwise(images[images["sha256"] != away], locator(ws), 1) == 1  # the other profiled
    assert cache.missing([away]) == []  # kept, but not trusted yet
    assert not pixel_read.current(cache.dir) and pixel_read.marked(cache.dir)
    cache = EmbeddingCache(ws, "fake")
    assert cache.forget_read_otherwise(images, locator(ws), 1) == 1  # back: judged, dropped
    assert set(cache.missing(images["sha256"].tolist())) == profiled and pixel_read.current(cache.dir)


def test_curate_embed_computes_the_profiled_photos_again_on_an_old_cache(real_photos, tmp_path):
    ws, profiled = _workspace(tmp_path, real_photos)
    config = EmbedConfig(workers=0)
    first = run_embed(ws, config)
    assert first.computed == 4 and first.read_again == 0
    cache = EmbeddingCache(ws, config.cache_key)
    shas = pd.Series(sorted(cache.known()))
    today, _, _ = cache.lookup(shas)
    # an older curate's cache: other vectors for every photo, and no mark
    for path in cache.dir.glob("part-*.parquet"):
        path.unlink()
    EmbeddingCache(ws, config.cache_key).append(shas.tolist(), today[:, ::-1].copy(), np.ones(len(shas), bool))
    (cache.dir / pixel_read.MARK).unlink()
    assert not pixel_read.current(cache.dir)

    second = run_embed(ws, config)
    assert second.read_again == 2 and second.computed == 2 and second.cached == 2
    assert "2 of them again" in second.summary()
    after, found, _ = EmbeddingCache(ws, config.cache_key).lookup(shas)
    assert found.all()
    for i, sha in enumerate(shas):
        expected = today[i] if sha in profiled else today[i, ::-1]
        np.testing.assert_allclose(after[i], expected, atol=1e-2)
    assert run_embed(ws, config).read_again == 0


def test_the_probe_borrows_no_vector_from_an_unmarked_embed_cache(tmp_path):
    from classify.probe import FeatureCache

    ws = Workspace(tmp_path / "ws")
    embedded = _fake_cache(ws, ["a", "b"], key="lite-224px")
    cache = FeatureCache(ws, "lite", 224)
    cache.embedded = EmbeddingCache(ws, "lite-224px")
    assert cache.cached(["a", "b"], 4)[1].all()
    (embedded.dir / pixel_read.MARK).unlink()
    assert not cache.cached(["a", "b"], 4)[1].any()
    computed = cache.features(["a", "b"], lambda positions: np.full((len(positions), 4), 7.0, np.float32))
    assert (computed == 7.0).all() and cache.borrowed == 0


def test_the_probe_borrows_no_vector_the_embed_caches_mark_leaves_pending(tmp_path):
    """Review DN: since review DG 5 a marked embed cache may leave pending the old vector of an image that was out
    of the catalog when it was marked; back in the catalog, the probe borrowed it before `curate embed` judged it,
    and kept it in its own (current) feature cache for good."""
    from classify.probe import FeatureCache

    ws = Workspace(tmp_path / "ws")
    embedded = _fake_cache(ws, ["a", "b"], key="lite-224px")
    (embedded.dir / pixel_read.MARK).write_text("2\nb\n")  # marked, b still to be judged
    cache = FeatureCache(ws, "lite", 224)
    cache.embedded = EmbeddingCache(ws, "lite-224px")
    assert cache.cached(["a", "b"], 4)[1].tolist() == [True, False]
    computed = cache.features(["a", "b"], lambda positions: np.full((len(positions), 4), 7.0, np.float32))
    assert (computed[0] != 7.0).all() and (computed[1] == 7.0).all() and cache.borrowed == 1


def test_each_stage_reading_pixels_is_at_a_new_rules_version():
    """Their runs under the old reading read stale by rules, so `curate run` runs them again."""
    assert stage_rules.version("embed") == 2
    for stage in ("embed", "filter", "prefilter"):  # in a version after the first (later ones may follow)
        assert any("colour profile" in change.what and change.decides for change in stage_rules.CHANGES[stage])


def test_the_duckdb_filter_says_it_cannot_measure_again(real_photos, tmp_path):
    ws, _ = _workspace(tmp_path, real_photos)
    marked = run_filter(ws, FilterConfig(), engine="duckdb")
    assert not any("colour profile" in note for note in marked.notes)
    (ws.cache_dir / pixel_read.MARK).unlink()
    unmarked = run_filter(ws, FilterConfig(), engine="duckdb")
    assert any("colour profile" in note and "CURATE_CATALOG_ENGINE=pandas" in note for note in unmarked.notes)
    assert not pixel_read.current(ws.cache_dir)  # it decoded nothing: still to be measured


def test_trainings_resized_images_of_the_profiled_photos_are_made_again_on_an_old_cache(real_photos, tmp_path):
    """Review DG: `classify train` (and the topic gate, lr-find, tune) reads `cache/resized-<side>/`, made once per
    image; one an older curate made held a profiled photo's unconverted colours, which training went on reading
    while predict and serve convert. An unmarked cache has those photos resized again, once; a new one is marked."""
    from classify.data import resize_images, resized_path

    ws, profiled = _workspace(tmp_path, real_photos)
    rows = read_catalog(ws)[["photo_id", "sha256", "image_path"]]
    paths, _ = resize_images(ws, rows, side=64, workers=1)
    folder = ws.cache_dir / "resized-64"
    assert pixel_read.current(folder)
    today = {sha: resized_path(ws, sha, 64).read_bytes() for sha in rows["sha256"]}
    (folder / pixel_read.MARK).unlink()  # as an older curate left it, its profiled photos read unconverted
    for sha in rows["sha256"]:
        resized_path(ws, sha, 64).write_bytes(jpeg_bytes())
    resize_images(ws, rows, side=64, workers=1)
    again = {sha: resized_path(ws, sha, 64).read_bytes() for sha in rows["sha256"]}
    assert {sha for sha in again if again[sha] == today[sha]} == profiled  # made again: today's bytes
    assert all(again[sha] == jpeg_bytes() for sha in set(again) - profiled)  # the others as they were
    assert pixel_read.current(folder)


def test_a_resized_image_out_of_the_catalog_stays_pending_until_it_is_back(real_photos, tmp_path):
    """Review DN: the resize cache's mark lost the photos it left pending once they were out of the catalog, and
    an unmarked cache was marked as a whole, so an old resized copy of a photo out of the catalog then was trusted
    when it came back (the embed cache's review DG 5, in training's cache)."""
    from classify.data import forget_read_otherwise, resize_images, resized_path

    ws, profiled = _workspace(tmp_path, real_photos)
    rows = read_catalog(ws)[["photo_id", "sha256", "image_path"]]
    resize_images(ws, rows, side=64, workers=1)
    folder = ws.cache_dir / "resized-64"
    away = sorted(profiled)[0]
    catalog = read_catalog(ws)
    write_catalog(ws, catalog[catalog["sha256"] != away])  # out of the catalog (a re-ingest dropped it, say)
    (folder / pixel_read.MARK).write_text(f"2\n{away}\n")  # marked, that photo still to be judged
    forget_read_otherwise(ws, 64, rows.iloc[:0])
    assert pixel_read.waiting(folder) == {away}  # kept pending, not dropped from the mark

    (folder / pixel_read.MARK).unlink()  # an old cache: its copy of the photo out of the catalog is not trusted
    forget_read_otherwise(ws, 64, rows.iloc[:0])
    assert pixel_read.waiting(folder) == {away} and resized_path(ws, away, 64).exists()
    write_catalog(ws, catalog)  # back: judged, made again
    assert forget_read_otherwise(ws, 64, rows.iloc[:0]) == 1 and pixel_read.current(folder)
    assert not resized_path(ws, away, 64).exists()


def test_a_profiled_photo_missing_at_the_upgrade_is_measured_once_it_is_back(real_photos, tmp_path):
    """Review DG 4: a file gone while the filter read the headers counted as "no profile", the workspace was
    marked, and the photo kept its old values after it was restored."""
    ws, profiled = _workspace(tmp_path, real_photos)
    old = read_catalog(ws)
    old["phash"] = OLD_HASH
    write_catalog(ws, old)
    (ws.cache_dir / pixel_read.MARK).unlink()
    gone = old.loc[old["sha256"].isin(profiled), "image_path"].iloc[0]
    stored = locator(ws)(gone)
    aside = stored.with_name(stored.name + ".aside")
    stored.rename(aside)
    run_filter(ws, FilterConfig(), engine="pandas")
    assert not pixel_read.current(ws.cache_dir)
    # marked, the missing photo left pending: the next filter opens its file alone, not every profiled photo's
    # again (review DJ 2: one photo gone for good re-read them all on every command)
    assert pixel_read.marked(ws.cache_dir)
    held = read_catalog(ws)[["sha256", "image_path"]].drop_duplicates("sha256")
    assert pixel_read.unjudged(ws.cache_dir, held)["image_path"].tolist() == [gone]
    aside.rename(stored)
    run_filter(ws, FilterConfig(), engine="pandas")
    assert pixel_read.current(ws.cache_dir)
    after = read_catalog(ws).set_index("image_path")
    assert after.loc[gone, "phash"] != OLD_HASH


def test_a_mark_keeps_the_photos_it_could_not_judge_and_nothing_else(tmp_path):
    images = pd.DataFrame({"sha256": ["a", "b", "c"], "image_path": ["a.jpg", "b.jpg", "c.jpg"]})
    assert pixel_read.unjudged(tmp_path, images) is images  # not marked: every photo
    pixel_read.mark(tmp_path, {"b"})
    assert pixel_read.marked(tmp_path) and not pixel_read.current(tmp_path)
    assert pixel_read.unjudged(tmp_path, images)["sha256"].tolist() == ["b"]
    pixel_read.mark(tmp_path)
    assert pixel_read.current(tmp_path) and pixel_read.unjudged(tmp_path, images) is None


def test_a_resize_cache_marked_by_another_process_meanwhile_is_left_as_it_is(tmp_path, monkeypatch):
    """The full tier caught it in the two-rank DDP test: rank 0 found the shared resize cache unmarked, rank 1 marked
    it before rank 0 asked which photos waited, `unjudged` answered None (nothing waits) and rank 0 crashed reading
    its rows. A cache another process marked in between is current: nothing to forget."""
    from classify.data import forget_read_otherwise

    ws = Workspace(tmp_path / "ws")
    folder = ws.cache_dir / "resized-64"
    folder.mkdir(parents=True)
    (folder / "ab").mkdir()
    (folder / "ab" / "abc.jpg").write_bytes(jpeg_bytes())  # an old resized copy: the cache was begun before its mark

    def marked_meanwhile(checked):
        pixel_read.mark(checked)  # the other rank, between `current` and `unjudged`
        return False

    monkeypatch.setattr(pixel_read, "current", marked_meanwhile)
    images = pd.DataFrame({"sha256": ["abc"], "image_path": ["images/ab/abc.jpg"]})
    assert forget_read_otherwise(ws, 64, images) == 0
    assert pixel_read.waiting(folder) == set()
