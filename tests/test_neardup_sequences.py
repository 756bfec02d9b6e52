"""One photographer's burst or pan does not make the near-duplicate calibration read a collection as
crowded (calibration.one_sequence). A real 65-frame pan among 90 other real photos read "hashes crowded"
and "embedding links off", and the filter then missed 30 of 30 crops and brightness copies of the other
photos (docs/benchmarks.md, "One photographer's sequence set aside"): its frames are alike and far apart
in pHash, yet they are one photographer's sequence, not different photos a backbone confuses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curate.filters import calibration, verify
from curate.filters.phash import uint64_to_phash

FRAMES, OTHERS = 65, 120


def _pan(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, vectors) of a pan: each frame's pHash half a bit further from the first (0-32 bits apart),
    every frame alike to every other (cosine ~0.99), like one scene swept by the camera."""
    base = int(rng.integers(0, 2**63))
    order = rng.permutation(64)
    hashes = []
    for frame in range(FRAMES):
        value = base
        for bit in order[:round(frame / 2)]:
            value ^= 1 << int(bit)
        hashes.append(value)
    vectors = rng.normal(size=(1, 64)) + 0.1 * rng.normal(size=(FRAMES, 64))
    return np.array(hashes, dtype=np.uint64), vectors


def _collection(seed: int = 0, pan_owner: str | None = "panner", spacing_s: int = 1) -> pd.DataFrame:
    """A pan of FRAMES frames (owner `pan_owner`; None: each frame its own owner) `spacing_s` apart, and
    OTHERS different photos by other owners on other days."""
    rng = np.random.default_rng(seed)
    hashes, vectors = _pan(rng)
    hashes = np.concatenate([hashes, rng.integers(0, 2**63, OTHERS, dtype=np.uint64)])
    vectors = np.concatenate([vectors, rng.normal(size=(OTHERS, 64))]).astype(np.float32)
    start = pd.Timestamp("2020-06-01 12:00:00")
    owners = [pan_owner or f"walker{i}" for i in range(FRAMES)] + [f"user{i}" for i in range(OTHERS)]
    taken = [start + pd.Timedelta(seconds=spacing_s * i) for i in range(FRAMES)]
    taken += [pd.Timestamp("2015-01-01") + pd.Timedelta(days=int(d)) for d in rng.integers(0, 2000, OTHERS)]
    return pd.DataFrame({"sha256": [f"{i:064x}" for i in range(len(hashes))], "phash": uint64_to_phash(hashes),
                         "owner_id": owners, "taken_at": pd.to_datetime(taken), "vector": list(vectors)})


def _evidence(frame: pd.DataFrame, with_sequences: bool = True) -> verify.Evidence:
    from curate.filters.clusters import sequence_keys

    hashes = np.array([int(h, 16) for h in frame["phash"]], dtype=np.uint64)
    owners, taken, lat, lon = sequence_keys(frame) if with_sequences else (None, None, None, None)
    return verify.Evidence(hashes, vectors=np.stack(frame["vector"]), owners=owners, taken=taken, lat=lat, lon=lon)


def test_a_pan_by_one_photographer_is_set_aside_and_the_collection_reads_distinct():
    frame = _collection()
    without = calibration.calibrate(_evidence(frame, with_sequences=False), 8, 0.90)
    assert without.hashes_crowded and without.embeddings_crowded  # what the pan did before
    crowding = calibration.calibrate(_evidence(frame), 8, 0.90)
    assert not crowding.hashes_crowded and not crowding.embeddings_crowded
    assert crowding.hash_sequence_share > calibration.CROWDED_SHARE
    assert crowding.embedding_sequence_share > calibration.CROWDED_SHARE
    note = " ".join(crowding.notes(calibration.CROWDED_SHARE))
    assert "set aside as one photographer's sequences (one owner, within 10 minutes)" in note


@pytest.mark.parametrize("case", ["other owners", "hours apart", "no time"])
def test_look_alikes_that_are_not_one_photographers_sequence_still_count(case):
    """The same alike frames by different owners, or by one owner but hours apart, or without a time, are
    what a backbone confusing different photos looks like: the collection still reads crowded."""
    if case == "other owners":
        frame = _collection(pan_owner=None)
    elif case == "hours apart":
        frame = _collection(spacing_s=3600)
    else:
        frame = _collection().assign(taken_at=pd.NaT)
    crowding = calibration.calibrate(_evidence(frame), 8, 0.90)
    assert crowding.hashes_crowded and crowding.embeddings_crowded
    assert crowding.hash_sequence_share == 0 and crowding.embedding_sequence_share == 0


def _walk(frame: pd.DataFrame, spread_km: float) -> pd.DataFrame:
    """The pan's frames without an owner (a phone's folder), positioned along a street `spread_km` long; the
    other photos far away."""
    frames = np.arange(len(frame)) < FRAMES
    lat = np.where(frames, 55.70 + np.linspace(0, spread_km / 111.2, len(frame)), 40.0 + np.arange(len(frame)))
    return frame.assign(owner_id=np.where(frames, None, frame["owner_id"]), lat=lat, lon=13.19)


def test_an_owner_less_walk_is_set_aside_as_the_split_groups_it():
    """Without owners (a phone's folder: EXIF time and GPS), frames taken within 10 minutes and 1 km of each
    other are one walk, as `curate split` groups them; the same frames 30 km apart, or without positions,
    still count."""
    walk = calibration.calibrate(_evidence(_walk(_collection(), 0.2)), 8, 0.90)
    assert not walk.hashes_crowded and not walk.embeddings_crowded and walk.embedding_sequence_share > 0
    for frame in (_walk(_collection(), 30.0), _walk(_collection(), 0.2).assign(lat=np.nan)):
        crowding = calibration.calibrate(_evidence(frame), 8, 0.90)
        assert crowding.embeddings_crowded and crowding.embedding_sequence_share == 0


@pytest.mark.parametrize("case", ["one owner", "owner-less walk"])
@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_the_filter_keeps_its_real_photo_rules_beside_a_pan_on_both_engines(tmp_path, engine, case):
    """Through the filter stage (both engines): the pan's frames are set aside, the calibration keeps the
    real-photo limits and the embedding links, and the note says what was set aside."""
    from curate.embed import EmbeddingCache
    from curate.filters.stage import FilterConfig, filter_catalog
    from curate.workspace import Workspace
    from tests.test_neardup import _stage_catalog
    from tests.test_outofcore_neardup import cache_thumbnails, duckdb_filter

    frame = _collection() if case == "one owner" else _walk(_collection(), 0.2)
    columns = ["sha256", "phash", "owner_id", "taken_at"] + (["lat", "lon"] if case != "one owner" else [])
    rows = frame[columns].assign(phash_mirror=frame["phash"])
    catalog = _stage_catalog(rows.to_dict("records"))
    vectors = np.stack(frame["vector"]).astype(np.float32)
    rng = np.random.default_rng(1)
    thumbnails = {sha: rng.integers(0, 256, verify.THUMB_BYTES, dtype=np.uint8).tobytes() for sha in frame["sha256"]}
    config = FilterConfig()
    if engine == "pandas":
        _, report = filter_catalog(catalog, config, thumbnails=thumbnails,
                                   embeddings=(frame["sha256"].tolist(), vectors))
    else:
        ws = Workspace(tmp_path / "ws")
        cache_thumbnails(ws, thumbnails)
        EmbeddingCache(ws, verify.EMBEDDING_BACKBONE).append(frame["sha256"].tolist(), vectors,
                                                             np.ones(len(frame), bool))
        _, report = duckdb_filter(catalog, config, ws, tmp_path)
    notes = " ".join(report.notes)
    assert "embedding links off" not in notes
    assert "near-duplicate hashes distinct: real-photo limits" in notes
    assert "set aside as one photographer's sequences" in notes
