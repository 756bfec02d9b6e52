"""Near duplicates on the DuckDB engine (curate.outofcore.neardup) equal the pandas engine's: the
same clusters, representatives, near_duplicate drops, cluster count and notes, on generated
catalogs whose images are copies of one another (pHash bits flipped, thumbnails with noise, tone
edits, mirrored copies, different photos with close pHashes), with and without thumbnails and
embeddings; through `run_filter` too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate import outofcore
from curate.embed import EmbeddingCache
from curate.filters import calibration, neardup, verify
from curate.filters.run import grey_reader, load_embeddings, run_filter
from curate.filters.stage import FilterConfig, filter_catalog
from curate.outofcore.catalog_view import Catalog
from curate.outofcore.db import connect
from curate.outofcore.filter import filter_duckdb
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.helpers import examples
from tests.test_outofcore import FLAGS, QUICK, assert_same_report, assert_same_rows, generated, run_query

MISSING_NOTE = "have no cached thumbnail"


def with_images(catalog: pd.DataFrame, seed: int, copies: float = 0.5) -> tuple[pd.DataFrame, dict[str, bytes]]:
    """`catalog` with a pHash (and mostly a mirror pHash) for its images, and their thumbnails:
    a share `copies` of the images are edits of another (a few pHash bits flipped; a noisy, a
    brightened or a different thumbnail), the rest unrelated photos; some rows of an image lack a
    pHash."""
    rng = np.random.default_rng(seed)
    shas = catalog["sha256"].dropna().unique()
    hashes = rng.integers(0, 2**63, len(shas), dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, len(shas),
                                                                                           dtype=np.uint64)
    mirrors = rng.integers(0, 2**63, len(shas), dtype=np.uint64)
    thumbs = rng.integers(0, 256, (len(shas), verify.THUMB_BYTES)).astype(np.uint8)
    for i in np.flatnonzero(rng.random(len(shas)) < copies)[1:]:
        origin = int(rng.integers(0, i))
        flips = np.uint64(int(sum(1 << int(b) for b in rng.choice(64, int(rng.integers(0, 11)), replace=False))))
        kind = rng.choice(["noise", "tone", "other", "mirror"])
        hashes[i] = (mirrors[origin] if kind == "mirror" else hashes[origin]) ^ flips
        base = thumbs[origin].astype(np.int16)
        if kind == "noise":
            thumbs[i] = np.clip(base + rng.integers(-3, 4, verify.THUMB_BYTES), 0, 255)
        elif kind == "tone":
            thumbs[i] = np.clip(0.8 * base + 30, 0, 255).round()
        elif kind == "mirror":  # a flipped copy: its pHash is near its photo's mirror pHash
            thumbs[i] = verify.mirrored_thumbnails(thumbs[origin][None])[0]
    phash = dict(zip(shas, neardup.uint64_to_phash(hashes)))
    mirror = dict(zip(shas, neardup.uint64_to_phash(mirrors)))
    out = catalog.copy()
    out["phash"] = out["sha256"].map(phash).where(rng.random(len(out)) < 0.95, None)
    out["phash_mirror"] = out["sha256"].map(mirror).where(rng.random(len(out)) < 0.8, None)
    return out, {sha: thumbs[i].tobytes() for i, sha in enumerate(shas)}


def duckdb_filter(catalog: pd.DataFrame, config: FilterConfig, ws: Workspace | None, folder: Path):
    """filter_duckdb over `catalog` written into `ws` (a fresh workspace under `folder` when None:
    then no caches are read)."""
    target = ws or Workspace(folder / "plain")
    write_catalog(target, catalog)
    with connect(folder) as con:
        query, report = filter_duckdb(con, Catalog(target.catalog_path), config, workspace=ws)
        return run_query(con, query), report


def cache_thumbnails(ws: Workspace, thumbnails: dict[str, bytes]) -> None:
    (ws.root / "cache").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"sha256": pa.array(list(thumbnails), pa.string()),
                             "thumbnail": pa.array(list(thumbnails.values()), pa.binary())}),
                   ws.root / "cache" / "thumbnails.parquet")


def no_stored_image(sha: str):
    """The pandas engine's image reader for a generated catalog: it stores no image (the DuckDB engine's reader
    finds none either), so both engines' pixel matches find every image unreadable alike."""
    return None


def both_engines(catalog: pd.DataFrame, thumbnails: dict[str, bytes], config: FilterConfig, folder: Path):
    """(pandas rows, report, DuckDB rows, report) of `catalog` with every thumbnail cached."""
    ws = Workspace(folder / "ws")
    cache_thumbnails(ws, thumbnails)
    expected, report = filter_catalog(catalog, config, thumbnails=thumbnails, read_grey=no_stored_image)
    return (expected, report, *duckdb_filter(catalog, config, ws, folder))


near_configs = st.builds(FilterConfig, dedupe_near=st.booleans(), near_dup_bits=st.sampled_from([6, 8, 10]),
                         near_dup_crowded_share=st.sampled_from([calibration.CROWDED_SHARE, None, 0.5]),
                         max_per_owner=st.sampled_from([None, 3]))


@settings(max_examples=examples(10), **QUICK)
@given(n=st.integers(120, 500), seed=st.integers(0, 2**32 - 1), images=st.integers(40, 400),
       copies=st.sampled_from([0.2, 0.6]), dropped_thumbs=st.sampled_from([0.0, 0.1]), prior=st.booleans(),
       config=near_configs)
def test_near_duplicates_equal_pandas(tmp_path_factory, n, seed, images, copies, dropped_thumbs, prior, config):
    folder = tmp_path_factory.mktemp("nd")
    catalog, thumbnails = with_images(generated(n, seed, owners=30, images=images, missing=0.1, prior=prior),
                                      seed, copies)
    rng = np.random.default_rng(seed + 1)
    cached = {sha: data for sha, data in thumbnails.items() if rng.random() >= dropped_thumbs}
    ws = Workspace(folder / "ws")
    cache_thumbnails(ws, cached)
    expected, report = filter_catalog(catalog, config, thumbnails=cached, read_grey=no_stored_image)
    got, got_report = duckdb_filter(catalog, config, ws, folder)
    assert_same_rows(expected, got, FLAGS)
    missing = [note for note in got_report.notes if MISSING_NOTE in note]
    assert bool(missing) == (len(cached) < len(thumbnails) and expected["phash"].notna().any())
    got_report.notes = [note for note in got_report.notes if MISSING_NOTE not in note]
    assert_same_report(report, got_report)
    assert got_report.near_duplicate_clusters == report.near_duplicate_clusters
    if config.dedupe_near:
        assert (got["drop_reason"] == "near_duplicate").sum() == (expected["drop_reason"] == "near_duplicate").sum()


def test_the_generated_catalogs_have_clusters_to_compare(tmp_path):
    """The comparison above is not empty: near duplicates dropped, clusters of different images,
    and links that need the mirror pHashes."""
    catalog = generated(400, 5, owners=30, images=150, missing=0.1, prior=False)
    # one label per image: copies filed under two labels are dropped as ambiguous_label before the
    # near-duplicate step, which would leave it too little to compare
    first = catalog.groupby("sha256")["label"].first()
    catalog["label"] = catalog["sha256"].map(first).where(catalog["sha256"].notna(), catalog["label"])
    catalog, thumbnails = with_images(catalog, 5, 0.6)
    config = FilterConfig(dedupe_near=True)
    expected, report, got, got_report = both_engines(catalog, thumbnails, config, tmp_path)
    assert_same_rows(expected, got, FLAGS)
    assert report.near_duplicate_clusters >= 10
    assert got_report.near_duplicate_clusters == report.near_duplicate_clusters
    # (a cluster keeps one photo per label, and the generator's copies carry random labels: fewer drops)
    assert report.dropped_by_reason.get("near_duplicate", 0) >= 5
    clusters = got.loc[got["near_dup_cluster"].notna()].groupby("near_dup_cluster")["sha256"].nunique()
    assert (clusters > 1).sum() >= 5  # clusters of different images, not only byte-identical copies
    unmirrored, _ = filter_catalog(catalog.assign(phash_mirror=None), config, thumbnails=thumbnails)
    assert unmirrored["near_dup_cluster"].nunique() > expected["near_dup_cluster"].nunique()


def with_framed_copies(catalog: pd.DataFrame, seed: int, share: float = 0.3) -> pd.DataFrame:
    """`catalog` where a share of the images are framed copies (screenshots) of another: a pHash far from
    every other, and a border-trimmed pHash (`phash_trimmed`) a few bits from the other's pHash."""
    rng = np.random.default_rng([seed, 1])  # not with_images' stream: its mirror pHashes would come back
    by_sha = catalog.dropna(subset=["phash"]).drop_duplicates("sha256").set_index("sha256")["phash"]
    shas = by_sha.index.to_numpy()
    hashes = neardup.phash_to_uint64(by_sha.tolist())
    plain, trimmed = dict(by_sha), {}
    for i in np.flatnonzero(rng.random(len(shas)) < share)[1:]:
        origin = int(rng.integers(0, i))
        flips = np.uint64(int(sum(1 << int(b) for b in rng.choice(64, int(rng.integers(0, 7)), replace=False))))
        trimmed[shas[i]] = neardup.uint64_to_phash(np.array([hashes[origin] ^ flips]))[0]
        plain[shas[i]] = neardup.uint64_to_phash(rng.integers(0, 2**63, 1, dtype=np.uint64))[0]
    out = catalog.copy()
    out["phash"] = out["sha256"].map(plain).where(out["phash"].notna(), None)
    out["phash_trimmed"] = out["sha256"].map(trimmed)
    return out


def test_trimmed_hash_links_equal_pandas(tmp_path):
    """The border-trimmed pHash is one more view of an image on both engines: the same pairs are linked,
    and the view links copies the plain and mirror hashes do not."""
    catalog, _ = with_images(generated(400, 8, owners=30, images=150, missing=0.1, prior=False), 8, 0.0)
    framed = with_framed_copies(catalog, 8)
    config = FilterConfig(dedupe_near=True, near_dup_crowded_share=None)
    joined = {}
    for name, frame in (("with", framed), ("without", framed.assign(phash_trimmed=None))):
        expected, report = filter_catalog(frame, config)  # no thumbnails: candidates linked unverified
        got, got_report = duckdb_filter(frame, config, None, tmp_path / name)
        assert_same_rows(expected, got, FLAGS)
        assert_same_report(report, got_report)
        images = got.loc[got["near_dup_cluster"].notna()].groupby("near_dup_cluster")["sha256"].nunique()
        joined[name] = int((images > 1).sum())
    assert joined["with"] >= 10 and joined["without"] == 0


def test_without_a_workspace_pairs_are_linked_unverified_as_pandas_does(tmp_path):
    catalog, _ = with_images(generated(300, 9, owners=30, images=120, missing=0.1, prior=False), 9, 0.6)
    config = FilterConfig(dedupe_near=True)
    expected, report = filter_catalog(catalog, config)
    got, got_report = duckdb_filter(catalog, config, None, tmp_path)
    assert_same_rows(expected, got, FLAGS)
    assert any("not colour-verified" in note for note in got_report.notes)
    assert_same_report(report, got_report)


def test_embedding_links_equal_pandas(tmp_path):
    """With `curate embed`'s cache (the verify backbone) the embedding links are made as pandas makes them."""
    catalog, thumbnails = with_images(generated(300, 4, owners=30, images=150, missing=0.1, prior=False), 4, 0.5)
    ws = Workspace(tmp_path / "ws")
    cache_thumbnails(ws, thumbnails)
    shas = list(thumbnails)
    rng = np.random.default_rng(4)
    pixels = np.stack([np.frombuffer(thumbnails[sha], np.uint8) for sha in shas]).astype(np.float32)
    vectors = pixels - pixels.mean(axis=1, keepdims=True)  # an edited copy's vector is close to its photo's
    ok = rng.random(len(shas)) < 0.9
    EmbeddingCache(ws, verify.EMBEDDING_BACKBONE).append(shas[:-5], vectors[:-5], ok[:-5])
    for cosine in (0.95, None):  # None: both embedding links off, the vectors still read (and counted) as on pandas
        config = FilterConfig(dedupe_near=True, near_dup_crowded_share=None, near_dup_cosine=cosine,
                              near_dup_verify_cosine=0.85 if cosine else None)
        expected, report = filter_catalog(catalog, config, thumbnails=thumbnails,
                                          embeddings=load_embeddings(ws, catalog), read_grey=grey_reader(ws, catalog))
        got, got_report = duckdb_filter(catalog, config, ws, tmp_path)
        assert_same_rows(expected, got, FLAGS)
        assert_same_report(report, got_report)
        links = [note for note in got_report.notes if note.startswith("near-duplicate links:")]
        assert links and (" 0 by embedding alone" in links[0]) == (cosine is None)


def test_an_unreadable_thumbnail_cache_is_a_note_not_a_crash(tmp_path):
    catalog, _ = with_images(generated(200, 2, owners=20, images=80, missing=0.1, prior=False), 2)
    ws = Workspace(tmp_path / "ws")
    (ws.root / "cache").mkdir(parents=True)
    (ws.root / "cache" / "thumbnails.parquet").write_bytes(b"not parquet")
    got, report = duckdb_filter(catalog, FilterConfig(dedupe_near=True), ws, tmp_path)
    assert any("thumbnail cache" in note and "unreadable" in note for note in report.notes)
    assert "near_duplicate" not in report.dropped_by_reason  # no thumbnail: no pHash pair is linked
    assert got["near_dup_cluster"].notna().sum() == catalog["phash"].notna().sum()


@pytest.mark.parametrize("dedupe", [False, True])
def test_run_filter_gives_the_same_workspace_in_both_engines(tmp_path, monkeypatch, dedupe):
    catalog, thumbnails = with_images(generated(300, 6, owners=30, images=120, missing=0.1, prior=True), 6, 0.6)
    results = {}
    for engine in ("pandas", "duckdb"):
        monkeypatch.setenv(outofcore.ENGINE_ENV, engine)
        ws = Workspace(tmp_path / engine)
        write_catalog(ws, catalog.assign(image_path=None))  # no stored file: nothing for pandas to decode
        cache_thumbnails(ws, thumbnails)
        report = run_filter(ws, FilterConfig(dedupe_near=dedupe))
        results[engine] = (read_catalog(ws), report)
        assert not list((ws.root / "cache").glob(".neardup-*"))  # the memory-mapped thumbnails are gone
    (expected, report), (got, got_report) = results["pandas"], results["duckdb"]
    assert_same_rows(expected, got, FLAGS)
    assert got_report.near_duplicate_clusters == report.near_duplicate_clusters > 0
    assert got_report.notes == report.notes and got_report.warnings == report.warnings


def test_a_real_photo_scrape_gives_the_same_near_duplicates_in_both_engines(tmp_path, monkeypatch):
    """Real pixels: a scrape of 15-Scene photos (edited copies, bursts, exact copies; the pHashes
    and thumbnails the ingest's decode pass wrote) filtered by each engine."""
    import shutil

    from curate.ingest.scrape import ingest_scrape
    from curate.scrape.config import ScrapeConfig
    from tests.helpers import REALDATA

    scenes = REALDATA / "scenes15" / "train"
    if not scenes.is_dir():
        pytest.skip(f"real data not found at {scenes} (../shared/realdata is absent in this checkout)")
    source = Workspace(tmp_path / "scrape")
    ingest_scrape(source, ScrapeConfig(folders=(str(scenes),), labels=("TallBuilding", "Street", "Highway"),
                                       offtopic=(str(scenes / "Forest"),), topic="urban", photos=160, seed=3,
                                       near_dup_rate=0.2, burst_rate=0.05, exact_dup_rate=0.03), workers=2)
    assert (source.root / "cache" / "thumbnails.parquet").exists()
    results = {}
    for engine in ("pandas", "duckdb"):
        ws = Workspace(tmp_path / engine)
        shutil.copytree(source.root, ws.root)
        monkeypatch.setenv(outofcore.ENGINE_ENV, engine)
        report = run_filter(ws, FilterConfig(dedupe_near=True))
        results[engine] = (read_catalog(ws), report)
    (expected, report), (got, got_report) = results["pandas"], results["duckdb"]
    assert_same_rows(expected, got, FLAGS)
    assert got_report.notes == report.notes
    assert got_report.near_duplicate_clusters == report.near_duplicate_clusters
    assert report.dropped_by_reason.get("near_duplicate", 0) >= 10  # the scrape's edited copies were found


def test_a_damaged_phash_cell_is_left_out_with_a_note_in_both_engines(tmp_path):
    """A pHash that is not 16 hex digits (a damaged catalog) does not stop the filter: the photo
    is no near-duplicate candidate, both engines say how many, and give the same rows."""
    catalog, thumbnails = with_images(generated(300, 8, owners=30, images=120, missing=0.1, prior=False), 8, 0.6)
    damaged = catalog.index[catalog["phash"].notna()][:3]
    catalog.loc[damaged, "phash"] = ["not-a-hash", "0123456789abcdeg", "0123456789abcdef0"]
    config = FilterConfig(dedupe_near=True)
    expected, report, got, got_report = both_engines(catalog, thumbnails, config, tmp_path)
    assert_same_rows(expected, got, FLAGS)
    assert_same_report(report, got_report)
    assert any(note.startswith("3 photos have a pHash that is not 16 hex digits") for note in report.notes)
    assert expected.loc[damaged, "near_dup_cluster"].isna().all()


def test_the_pandas_engine_hashes_a_damaged_phash_of_a_stored_image_again(tmp_path):
    from PIL import Image

    from curate.filters.phash import parse_phashes
    from curate.filters.run import ensure_phashes

    ws = Workspace(tmp_path / "ws")
    (ws.root / "images").mkdir(parents=True)
    Image.new("RGB", (64, 48), (200, 30, 30)).save(ws.root / "images" / "a.jpg")
    catalog = generated(4, 1, owners=2, images=4, missing=0.0, prior=False).assign(
        sha256=["a", "b", "c", "d"], image_path=["images/a.jpg", None, None, None],
        phash=["zz", "zz", None, "00000000000000ff"], phash_mirror="00000000000000ff")
    fixed = ensure_phashes(ws, catalog, workers=1)
    assert parse_phashes(fixed["phash"])[1].tolist() == [True, False, False, True]  # only the stored image


def test_a_catalog_from_before_the_turned_hashes_is_a_duckdb_note_until_pandas_hashes_it(tmp_path, monkeypatch):
    """A catalog ingested before curate stored a half-turn pHash: the pandas filter decodes its images for
    it (and finds turned copies), the DuckDB engine decodes none. It said nothing; now it counts the images
    and names the fix, which then leaves nothing to say."""
    from curate.ingest.demo import DemoConfig, ingest_demo

    ws = Workspace(tmp_path / "ws")
    ingest_demo(ws, DemoConfig(photos=30, seed=4, image_width=64, image_height=48), images=True, workers=1)
    old = read_catalog(ws).drop(columns=["phash_rot180"])
    pq.write_table(pa.Table.from_pandas(old, preserve_index=False), ws.catalog_path)  # a file without the column
    images = old.loc[old["image_path"].notna(), "sha256"].nunique()

    def filter_with(engine: str):
        monkeypatch.setenv(outofcore.ENGINE_ENV, engine)
        return [note for note in run_filter(ws, FilterConfig()).notes if "lack a mirrored or turned pHash" in note]

    assert filter_with("duckdb") == [
        f"{images:,} of {images:,} images lack a mirrored or turned pHash (ingested before curate computed them; "
        "the DuckDB engine decodes no image): their mirrored, quarter- and half-turned copies are not found; run the "
        "filter once with CURATE_CATALOG_ENGINE=pandas to compute them"]
    assert read_catalog(ws)["phash_rot180"].isna().all()
    assert filter_with("pandas") == []
    assert read_catalog(ws).loc[lambda c: c["image_path"].notna(), "phash_rot180"].notna().all()
    assert filter_with("duckdb") == []


@settings(max_examples=examples(6), **QUICK)
@given(seed=st.integers(0, 2**32 - 1), dedupe=st.booleans())
def test_the_keep_rule_for_upscaled_framed_and_grey_copies_equals_pandas(tmp_path_factory, seed, dedupe):
    """The keep rule's pixel evidence (upscaled copies, framed ones, greyscale ones: `duplicates.representative_order`)
    picks the same representative and the same kept copy in both engines: images of one picture at several sizes
    (ties included, some under 256 px or unmeasured), each with its own detail, border and colour."""
    folder = tmp_path_factory.mktemp("keep")
    catalog, thumbnails = with_images(generated(300, seed, owners=30, images=90, missing=0.1, prior=False), seed, 0.7)
    rng = np.random.default_rng(seed)
    shas = catalog["sha256"].dropna().unique()
    sides = rng.choice([200, 256, 300, 400, 400, 600, 800], len(shas))
    per_image = pd.DataFrame({"width": (sides * 4 // 3).astype("int32"), "height": sides.astype("int32"),
                              "laplacian_var": np.where(rng.random(len(shas)) < 0.1, np.nan,
                                                        rng.choice([50.0, 300.0, 900.0, 1000.0], len(shas))),
                              "chroma_mean": rng.choice([0.5, 1.6, 20.0, 40.0], len(shas)),
                              "phash_trimmed": np.where(rng.random(len(shas)) < 0.2, "00000000000000ff", None)},
                             index=shas)
    for column in per_image.columns:
        catalog[column] = catalog["sha256"].map(per_image[column])
    catalog["width"] = catalog["width"].astype("Int32")
    catalog["height"] = catalog["height"].astype("Int32")
    config = FilterConfig(dedupe_near=dedupe, near_dup_bits=10)
    expected, report, got, got_report = both_engines(catalog, thumbnails, config, folder)
    assert_same_rows(expected, got, FLAGS)
    assert report.near_duplicate_clusters == got_report.near_duplicate_clusters > 0
