"""Near duplicates out of core: the clusters `curate.filters.stage._near_duplicates` makes, from a
catalog in DuckDB, with the catalog never in memory.

What is in memory is per distinct image with a pHash, not per row: its pHash and mirror pHash
(16 bytes), the candidate pairs the multi-index search finds (`curate.filters.neardup`), and the
cluster labels. The thumbnails (576 bytes an image) are copied from `cache/thumbnails.parquet` into
a memory-mapped file in the image order and read a batch of pairs at a time. The linking itself is
the pandas engine's own function (`clusters.cluster_images`), so both engines link the same pairs;
representatives are chosen in SQL by the exact-duplicate keep rule.

Two things differ from the pandas engine, and the filter's notes say so when they bite: the
DuckDB engine decodes no image but those of the pairs matched on their pixels (the window match's candidates,
curate.filters.windows, a few when embedded; the overlay check's, curate.filters.overlay), so an image without a
cached thumbnail stays without one (its pHash candidates are not colour-verified, so linked only by those pixel
checks), and one without the collage panels' pHashes
(`phash_panels`, a catalog from before them) is no collage to it, nor one without the strip hashes (`phash_strips`)
a 9:16 portrait crop; and `curate embed`'s
vectors, when the workspace has them, are read into memory as the pandas engine reads them (4 bytes x 1,280 an
embedded image).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from curate.filters import collages, duplicates, neardup, verify
from curate.filters.clusters import cluster_images, mirror_hashes, vectors_by_position
from curate.filters.collages import Clusters
from curate.filters.config import STAGE, FilterConfig
from curate.filters.quality import STAT_SIDE
from curate.outofcore.db import drop_kept, literal, record_batches
from curate.vision import features

# the pHashes `curate.filters.phash.parse_phashes` reads (others are left out, as on pandas)
READABLE_PHASH = "regexp_full_match(phash, '[0-9a-fA-F]{16}')"
# the keep rule of `curate.filters.duplicates.representative_order`, as an ORDER BY over table w
REPRESENTATIVE_ORDER = ("(status <> 'kept'), (label IS NULL), upscaled, (w.phash_trimmed IS NOT NULL), "
                        "coalesce(starts_with(w.phash_strips, 'own:'), FALSE), "
                        f"coalesce(chroma_mean < {duplicates.GREY_CHROMA!r}, FALSE), "
                        "coalesce(width::DOUBLE * height::DOUBLE, 0) DESC, overlaid, taken_at ASC NULLS LAST, photo_id")
# the keep rule among byte-identical copies (`duplicates.exact_duplicates`): before the id, one with an owner
EXACT_ORDER = REPRESENTATIVE_ORDER.replace("NULLS LAST, photo_id", "NULLS LAST, (owner_id IS NULL), photo_id")
# `duplicates.upscaled_copies` over each picture's copies (column picture of table nd_labels: the clusters without
# the bridging collages' panel links, as on pandas), into w.upscaled
UPSCALED = f"""
    UPDATE w SET upscaled = u.upscaled FROM (
        SELECT rid, coalesce(eligible AND detail < {duplicates.UPSCALED_DETAIL!r} * max(detail) FILTER (WHERE eligible)
                   OVER (PARTITION BY picture ORDER BY pixels RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                   FALSE) AS upscaled
        FROM (SELECT w.rid, picture, laplacian_var AS detail, width::DOUBLE * height::DOUBLE AS pixels,
                     (laplacian_var IS NOT NULL AND width IS NOT NULL AND height IS NOT NULL
                      AND least(width, height) >= {STAT_SIDE}) AS eligible
              FROM w JOIN nd_images i USING (sha256) JOIN nd_labels USING (pos)
              WHERE {READABLE_PHASH.replace('phash', 'w.phash')})) u
    WHERE w.rid = u.rid"""


def _hashes(con, n: int) -> tuple[np.ndarray, ...]:
    """(pHashes, mirror pHashes, border-trimmed pHashes, quarter-turn and half-turn pHashes, (n, 2) collage panel
    pHashes, which images have panels) of the images in position order, parsed a batch at a time (an image's own
    hash where it has no mirror, trimmed or turned one)."""
    from curate.filters.panels import parse_panel_phashes

    hashes, mirrors, trimmed, turned, halfturned = (np.empty(n, np.uint64) for _ in range(5))
    panels, has_panels = np.zeros((n, 2), np.uint64), np.zeros(n, bool)
    start = 0
    for batch in record_batches(con, "SELECT phash, phash_mirror, phash_trimmed, phash_rot90, phash_rot180, "
                                     "phash_panels FROM nd_images ORDER BY pos"):
        end = start + batch.num_rows
        hashes[start:end] = neardup.phash_to_uint64(batch.column(0).to_pylist())
        for view, column in ((mirrors, 1), (trimmed, 2), (turned, 3), (halfturned, 4)):
            view[start:end] = mirror_hashes(hashes[start:end], *neardup.parse_phashes(batch.column(column).to_pylist()))
        panels[start:end], has_panels[start:end] = parse_panel_phashes(batch.column(5).to_pylist())
        start = end
    return hashes, mirrors, trimmed, turned, halfturned, panels, has_panels


def _strips(con):
    """The strip hashes of the images that have them (`portraits.parse_strip_phashes`), by position, read a batch at
    a time: most images' (landscape ones') several windows, a portrait's own."""
    from curate.filters.portraits import StripHashes, parse_strip_phashes

    parts = []
    if not con.execute("SELECT count(*) FROM nd_images WHERE starts_with(phash_strips, 'own:') "
                       "OR starts_with(phash_strips, 'in:')").fetchone()[0]:
        return parse_strip_phashes([])  # no portrait: nothing to look for, the windows' hashes are not read
    for batch in record_batches(con, "SELECT pos, phash_strips FROM nd_images WHERE phash_strips IS NOT NULL "
                                     "ORDER BY pos"):
        found = parse_strip_phashes(batch.column(1))  # the Arrow strings as they are: no Python string each
        positions = batch.column(0).to_numpy(zero_copy_only=False).astype(np.int64)
        parts.append(StripHashes(found.hashes, positions[found.owners], found.portrait))
    if not parts:
        return parse_strip_phashes([])
    return StripHashes(*(np.concatenate(values) for values in zip(*parts)))


def _thumbnails(con, n: int, cache: Path, scratch: Path) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(thumbnails memory-mapped in position order, which are real, a note when the cache is unreadable)."""
    thumbs = np.lib.format.open_memmap(scratch / "thumbnails.npy", mode="w+", dtype=np.uint8,
                                       shape=(n, verify.THUMB_BYTES))
    has_thumb = np.zeros(n, bool)
    if not cache.exists():
        return thumbs, has_thumb, None
    import duckdb

    try:
        for batch in record_batches(con, f"SELECT i.pos, t.thumbnail FROM nd_images i JOIN read_parquet("
                                         f"{literal(str(cache))}) t USING (sha256)"):
            positions = batch.column(0).to_numpy()
            data = batch.column(1)
            whole = pc.binary_length(data).to_numpy(zero_copy_only=False) == verify.THUMB_BYTES
            if whole.any():
                rows = pc.filter(data, pa.array(whole)).to_pylist()
                thumbs[positions[whole]] = np.frombuffer(b"".join(rows), np.uint8).reshape(-1, verify.THUMB_BYTES)
                has_thumb[positions[whole]] = True
    except (duckdb.Error, OSError, pa.ArrowException) as exc:  # a cache: go on without it, and say so
        thumbs[:] = 0
        has_thumb[:] = False
        return thumbs, has_thumb, (f"thumbnail cache {cache} is unreadable ({type(exc).__name__}): near duplicates "
                                   "were linked without thumbnails; the pandas engine (CURATE_CATALOG_ENGINE=pandas) "
                                   "computes it again")
    return thumbs, has_thumb, None


def _sequence_keys(con, n: int) -> tuple[np.ndarray, ...]:
    """(owner code per image in position order, -1 for none; taken_at in microseconds, verify.NO_TIME for
    none; latitude, longitude, NaN for none), as `clusters.sequence_keys` gives them (codes differ,
    equality does not), a batch at a time."""
    owners, taken = np.empty(n, np.int64), np.empty(n, np.int64)
    lat, lon = np.empty(n, np.float64), np.empty(n, np.float64)
    start = 0
    for batch in record_batches(con, f"""
            SELECT CASE WHEN nd_owner IS NULL THEN -1 ELSE dense_rank() OVER (ORDER BY nd_owner) END::BIGINT,
                   coalesce(epoch_us(nd_taken), {verify.NO_TIME}), coalesce(nd_lat, 'NaN'::DOUBLE),
                   coalesce(nd_lon, 'NaN'::DOUBLE) FROM nd_images ORDER BY pos"""):
        end = start + batch.num_rows
        owners[start:end] = batch.column(0).to_numpy(zero_copy_only=False)
        taken[start:end] = batch.column(1).to_numpy(zero_copy_only=False)
        lat[start:end] = batch.column(2).to_numpy(zero_copy_only=False)
        lon[start:end] = batch.column(3).to_numpy(zero_copy_only=False)
        start = end
    return owners, taken, lat, lon


def _vectors(con, ws) -> tuple[np.ndarray | None, int | None]:
    """(`curate embed`'s vectors in image order, how many images have one) read as the pandas
    engine reads them (whenever the workspace has the cache), or (None, None)."""
    from curate.embed import EmbeddingCache
    from curate.filters.run import load_embeddings

    if ws is None or not EmbeddingCache(ws, verify.EMBEDDING_BACKBONE).dir.is_dir():
        return None, None
    shas = [row[0] for row in con.execute("SELECT sha256 FROM nd_images ORDER BY pos").fetchall()]
    embeddings = load_embeddings(ws, pd.DataFrame({"sha256": pd.Series(shas, dtype=object)}))
    return (None, None) if embeddings is None else vectors_by_position(shas, embeddings)


def _grey_reader(con, ws, source: str):
    """position -> the stored image's grey view for the window match (`curate.filters.windows`), or None.
    The first call makes table nd_paths from the catalog (`source`: a stored image's key per position, in
    position order: a point query reads one row group); only the images of candidate pairs are decoded."""
    from curate.filters import windows
    from curate.objectstore import locator

    locate, made = locator(ws), []

    def read(position: int):
        if not made:
            con.execute(f"""
                CREATE OR REPLACE TABLE nd_paths AS
                SELECT i.pos, min(c.image_path) AS image_path FROM nd_images i JOIN {source} c USING (sha256)
                WHERE c.image_path IS NOT NULL GROUP BY i.pos ORDER BY i.pos""")
            made.append(True)
        row = con.execute("SELECT image_path FROM nd_paths WHERE pos = ?", [int(position)]).fetchone()
        return None if row is None else windows.stored_grey_view(locate(row[0]))

    return read


def _image_keys(con):
    """positions -> their sha256 (what the window match's pair scores are kept by), looked up in nd_images for
    the positions asked (the candidate pairs' images), not every image's."""

    def keys(positions: np.ndarray) -> list[str | None]:
        con.register("nd_key_positions", pa.table({"pos": pa.array(np.asarray(positions, np.int64))}))
        try:
            found = dict(con.execute("SELECT pos, sha256 FROM nd_images JOIN nd_key_positions USING (pos)").fetchall())
        finally:
            con.unregister("nd_key_positions")
        return [found.get(int(position)) for position in positions]

    return keys


def _pixel_upscales(con, ws, source: str, workers: int) -> None:
    """`duplicates.upscaled_copies`'s pixel test over each picture's copies (nd_labels.picture) where they differ
    in size, into w.upscaled (the statistic's flags stay): the rows of such pictures only are read into memory, and
    their images."""
    from curate.filters.upscale import upscales
    from curate.objectstore import locator
    from curate.progress import working
    from curate.store import open_rgb

    rows = con.execute(f"""
        SELECT w.sha256, w.width, w.height, w.laplacian_var, w.phash_trimmed, picture
        FROM w JOIN nd_images i USING (sha256) JOIN nd_labels USING (pos)
        WHERE {READABLE_PHASH.replace('phash', 'w.phash')} AND w.width IS NOT NULL AND w.height IS NOT NULL
          AND picture IN (SELECT picture FROM nd_labels JOIN nd_images USING (pos) JOIN w USING (sha256)
                          GROUP BY picture HAVING count(DISTINCT w.width::DOUBLE * w.height::DOUBLE) > 1)""").df()
    if rows.empty:
        return
    groups = duplicates.upscale_groups(rows, rows["picture"].astype(str))
    if not groups:
        return
    con.register("nd_group_images", pa.table({"sha256": pa.array(
        sorted({image[0] for levels in groups for level in levels for image in level}), pa.string())}))
    paths = dict(con.execute(f"""SELECT sha256, min(c.image_path) FROM nd_group_images JOIN {source} c USING (sha256)
                                 WHERE c.image_path IS NOT NULL GROUP BY sha256""").fetchall())
    con.unregister("nd_group_images")
    locate = locator(ws)

    def read(sha: str, min_side: int):
        return open_rgb(locate(paths[sha]), min_side=min_side) if sha in paths else None

    with working(f"keep rule: the pixels of {len(groups):,} clusters whose copies differ in size"):
        found = sorted(upscales(groups, read, workers))
    if found:
        con.register("nd_upscales", pa.table({"sha256": pa.array(found, pa.string())}))
        con.execute(f"""UPDATE w SET upscaled = TRUE FROM nd_upscales u
                        WHERE w.sha256 = u.sha256 AND {READABLE_PHASH.replace('phash', 'w.phash')}""")
        con.unregister("nd_upscales")


def _reviewed_positions(con, n: int, reviewed_kept: Sequence[str]) -> np.ndarray | None:
    """Which images of nd_images (by pos) a photo a reviewer kept shows (None: no such photo)."""
    if not reviewed_kept:
        return None
    con.register("nd_reviewed", pa.table({"photo_id": pa.array(list(reviewed_kept), pa.string())}))
    # each id, or its one legacy float twin where the catalog lacks the id itself (`f:12.0` for `f:12`, either
    # way round: collages.reviewed_ids, float_id_twins' rule: a key with two held twins names neither)
    key = r"regexp_replace(photo_id, ':([+-]?[0-9]+)\.0+$', ':\1')"
    positions = con.execute(f"""
        WITH named AS (SELECT photo_id FROM w SEMI JOIN nd_reviewed USING (photo_id)),
             keys AS (SELECT DISTINCT {key} AS k FROM nd_reviewed ANTI JOIN w USING (photo_id)
                      WHERE regexp_matches({key}, ':[+-]?[0-9]+$')),
             held AS (SELECT photo_id, {key} AS k FROM w WHERE {key} IN (SELECT k FROM keys)),
             twins AS (SELECT photo_id FROM held WHERE k IN (SELECT k FROM held GROUP BY k
                                                               HAVING count(DISTINCT photo_id) = 1))
        SELECT DISTINCT pos FROM nd_images JOIN w USING (sha256)
        WHERE w.photo_id IN (SELECT photo_id FROM named UNION SELECT photo_id FROM twins)""").fetchnumpy()["pos"]
    con.unregister("nd_reviewed")
    kept = np.zeros(n, bool)
    kept[np.asarray(positions, np.int64)] = True
    return kept


def _collage_drops(con, clusters: Clusters, config: FilterConfig, notes: list[str], warnings: list[str]) -> bool:
    """Drop the kept photos of the collages that join different pictures as collage, as
    `collages.drop_bridges` does on pandas (the same hold, note and warning); whether they were dropped."""
    if config.collages != "drop" or not clusters.bridges.any():
        return False
    con.register("nd_bridge_pos", pa.table({"pos": pa.array(np.flatnonzero(clusters.bridges).astype(np.int64))}))
    con.execute("CREATE OR REPLACE TEMP TABLE nd_bridges AS "
                "SELECT sha256 FROM nd_images JOIN nd_bridge_pos USING (pos)")
    con.unregister("nd_bridge_pos")
    bridge = "sha256 IN (SELECT sha256 FROM nd_bridges)"
    rows = con.execute(f"SELECT count(*) FROM w WHERE status = 'kept' AND {bridge}").fetchone()[0]
    if not rows:
        return False
    per_label = con.execute(f"""SELECT label, count(*) AS photos, count(*) FILTER (WHERE {bridge}) AS conflicting
                                FROM w WHERE status = 'kept' AND label IS NOT NULL GROUP BY label""").df()
    if collages.held(per_label, config.force_collages):
        warnings.append(collages.held_warning(int(per_label["conflicting"].sum()), int(per_label["photos"].sum()),
                                              clusters.pictures))
        return False
    image_labels = con.execute("""SELECT DISTINCT pos, label FROM nd_images JOIN w USING (sha256)
                                  WHERE status = 'kept' AND label IS NOT NULL ORDER BY pos, label""").df()
    notes += collages.drop_note(int(rows), clusters.pictures, collages.found(clusters, image_labels))
    drop_kept(con, STAGE, "collage", f"status = 'kept' AND {bridge}")
    return True


def near_duplicates(con, ws, config: FilterConfig, notes: list[str], source: str | None = None,
                    workers: int = 1, pair_scores=None, warnings: list[str] | None = None,
                    reviewed_kept: Sequence[str] = ()) -> int:
    """Fill column `near` of table w (the representative's photo_id of each row's near-duplicate
    cluster, as `stage._near_duplicates` fills near_dup_cluster; `--dedupe-near`'s drops are the
    caller's, curate.outofcore.filter). `ws`: the workspace whose thumbnail and embedding
    caches to read (None: neither, as pandas without thumbnails); `source`: the catalog's relation
    (`Catalog.source`), where the window match finds the stored images (None: no window match);
    `pair_scores`: the window match's scores of earlier runs (curate.filters.pair_scores.PairScores; new ones are
    added), kept by sha256, which is looked up for the candidate pairs' images only (`_image_keys`). Returns
    the number of clusters of more than one photo."""
    con.execute(f"""
        CREATE OR REPLACE TABLE nd_images AS
        SELECT row_number() OVER (ORDER BY rid) - 1 AS pos, sha256, phash, phash_mirror, phash_trimmed, phash_rot90,
               phash_rot180, phash_panels, phash_strips, owner_id AS nd_owner, taken_at AS nd_taken, lat AS nd_lat,
               lon AS nd_lon
        FROM (
            SELECT rid, sha256, phash, phash_mirror, phash_trimmed, phash_rot90, phash_rot180, phash_panels,
                   phash_strips, owner_id,
                   taken_at, lat, lon,
                   row_number() OVER (PARTITION BY sha256 ORDER BY rid) AS k
            FROM w WHERE {READABLE_PHASH} AND sha256 IS NOT NULL)
        WHERE k = 1""")
    n = con.execute("SELECT count(*) FROM nd_images").fetchone()[0]
    kept = _reviewed_positions(con, n, reviewed_kept)
    hashes, mirrors, trimmed, turned, halfturned, panels, has_panels = _hashes(con, n)
    strips = _strips(con)
    vectors, embedded = _vectors(con, ws)
    owners, taken, lat, lon = _sequence_keys(con, n)
    if ws is None:
        clusters = cluster_images(verify.Evidence(hashes, mirrors, vectors=vectors, trimmed=trimmed, owners=owners,
                                                  taken=taken, lat=lat, lon=lon, turned=turned, halfturned=halfturned,
                                                  panels=panels, has_panels=has_panels, strips=strips),
                                  config, notes, embedded, kept=kept)
    else:
        cache = ws.cache_dir
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".neardup-", dir=cache) as scratch:
            thumbs, has_thumb, problem = _thumbnails(con, n, ws.root / features.THUMBNAIL_CACHE, Path(scratch))
            if problem:
                notes.append(problem)
            elif not has_thumb.all():
                notes.append(f"{n - int(has_thumb.sum()):,} of {n:,} images have no cached thumbnail (the DuckDB "
                             "engine decodes no image): their pHash candidates are not colour-verified, so not linked; "
                             "the pandas engine (CURATE_CATALOG_ENGINE=pandas) computes them")
            reader = None if source is None else _grey_reader(con, ws, source)
            keys = None if reader is None or pair_scores is None else _image_keys(con)
            clusters = cluster_images(verify.Evidence(hashes, mirrors, thumbs, has_thumb, vectors, trimmed, reader,
                                                      owners, taken, lat, lon, turned, halfturned, pair_scores, keys,
                                                      panels, has_panels, strips),
                                      config, notes, embedded, workers, kept)
            del thumbs
    labels = clusters.labels(_collage_drops(con, clusters, config, notes, [] if warnings is None else warnings))
    if clusters.overlaid is not None:  # the copies under a tiled watermark: after their original (keep rule)
        con.register("nd_overlaid", pa.table({"pos": pa.array(np.flatnonzero(clusters.overlaid).astype(np.int64))}))
        con.execute("UPDATE w SET overlaid = TRUE FROM nd_images i JOIN nd_overlaid o USING (pos) "
                    "WHERE w.sha256 = i.sha256")
        con.unregister("nd_overlaid")
    con.register("nd_labels_frame", pa.table({"pos": pa.array(np.arange(n, dtype=np.int64)),
                                              "cluster": pa.array(labels.astype(np.int64)),
                                              "picture": pa.array(clusters.apart.astype(np.int64))}))
    con.execute("CREATE OR REPLACE TABLE nd_labels AS SELECT * FROM nd_labels_frame")
    con.unregister("nd_labels_frame")
    del labels, clusters, hashes, mirrors, trimmed, turned, halfturned, panels, has_panels, strips, vectors
    con.execute(UPSCALED)
    if ws is not None and source is not None:
        _pixel_upscales(con, ws, source, workers)
    con.execute(f"""
        UPDATE w SET near = r.rep FROM (
            SELECT rid, first_value(photo_id) OVER (PARTITION BY cluster ORDER BY {REPRESENTATIVE_ORDER}) AS rep
            FROM w JOIN nd_images i USING (sha256) JOIN nd_labels USING (pos)
            WHERE {READABLE_PHASH.replace('phash', 'w.phash')}) r
        WHERE w.rid = r.rid""")
    return int(con.execute("SELECT count(*) FROM (SELECT near FROM w WHERE near IS NOT NULL GROUP BY near "
                           "HAVING count(*) > 1)").fetchone()[0])
