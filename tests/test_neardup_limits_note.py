"""The calibration note names the near-duplicate limits the filter applied (audit 2026-12-04, finding 6):
limits given by --near-dup-colour-diff / --near-dup-tone-diff are reported as given, not the calibrated
ones they replaced."""

from __future__ import annotations

import numpy as np

from curate.filters import calibration, verify
from curate.filters.phash import uint64_to_phash


def _crowded_rows(n: int = 150):
    """n images whose pHashes all lie within 12 bits (a crowded collection) and random thumbnails."""
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 4096, n, dtype=np.uint64)
    rows, thumbnails = [], {}
    for index, value in enumerate(hashes):
        sha = f"{index:064x}"
        text = uint64_to_phash(np.array([value]))[0]
        rows.append({"sha256": sha, "phash": text, "phash_mirror": text})
        thumbnails[sha] = rng.integers(0, 256, verify.THUMB_BYTES, dtype=np.uint8).tobytes()
    return rows, thumbnails


def _notes(**settings) -> str:
    from curate.filters.stage import FilterConfig, filter_catalog
    from tests.test_neardup import _stage_catalog

    rows, thumbnails = _crowded_rows()
    _, report = filter_catalog(_stage_catalog(rows), FilterConfig(**settings), thumbnails=thumbnails)
    return next(note for note in report.notes if note.startswith("near-duplicate hashes"))


def test_explicit_limits_are_reported_as_given():
    note = _notes(near_dup_colour_diff=8.0, near_dup_tone_diff=5.0)
    assert "crowded" in note  # the verdict is still said
    assert "colour <= 8 (given: --near-dup-colour-diff)" in note and "tone <= 5 (given: --near-dup-tone-diff)" in note
    assert "strict limits, colour <= 4" not in note
    assert "set the real-photo limits" not in note  # no advice to set what was set


def test_one_explicit_limit_and_one_calibrated():
    note = _notes(near_dup_colour_diff=8.0)
    assert "colour <= 8 (given: --near-dup-colour-diff)" in note and "tone check off (calibrated)" in note


def test_calibrated_limits_are_reported_as_calibrated():
    note = _notes()
    assert "strict limits, colour <= 4 (calibrated), tone check off (calibrated)" in note


def test_the_rule_and_the_note_agree():
    rows, _ = _crowded_rows()
    hashes = np.array([int(row["phash"], 16) for row in rows], dtype=np.uint64)
    rule, crowding = calibration.calibrated_rule(verify.Evidence(hashes), 8, colour_diff=6.0, tone_diff=None)
    assert (rule.colour_diff, rule.tone_diff) == (6.0, None)
    assert (crowding.limits.colour_diff, crowding.limits.tone_diff) == (6.0, None)
    assert crowding.limits.colour_given and crowding.limits.tone_given


def test_the_links_note_says_which_copies_are_found_only_half_the_time():
    """The acceptance audit asked that a run say what it does not catch: no rule found one-side crops
    without joining real look-alikes (docs/benchmarks.md), so the links note says so."""
    from curate.filters.stage import FilterConfig, filter_catalog
    from tests.test_neardup import _stage_catalog

    rows, thumbnails = _crowded_rows()
    vectors = np.random.default_rng(4).normal(size=(len(rows), 16)).astype(np.float32)
    _, report = filter_catalog(_stage_catalog(rows), FilterConfig(), thumbnails=thumbnails,
                               embeddings=([row["sha256"] for row in rows], vectors))
    links = next(note for note in report.notes if note.startswith("near-duplicate links:"))
    assert "cropped by more than ~10 % off one side are often missed" in links


def test_images_stored_after_the_embed_are_named_in_a_note():
    """`curate embed`, then more photos ingested, then `curate filter`: the new images have no vector, so
    their near duplicates rest on pHash alone. The filter says how many and what to run."""
    from curate.filters.stage import FilterConfig, filter_catalog
    from tests.test_neardup import _stage_catalog

    rows, thumbnails = _crowded_rows()
    vectors = np.random.default_rng(5).normal(size=(100, 16)).astype(np.float32)
    _, report = filter_catalog(_stage_catalog(rows), FilterConfig(), thumbnails=thumbnails,
                               embeddings=([row["sha256"] for row in rows[:100]], vectors))
    missing = next(note for note in report.notes if "have no efficientnet_lite0 embedding" in note)
    assert missing.startswith(f"{len(rows) - 100} of {len(rows)} images") and "run `curate embed`" in missing
    _, whole = filter_catalog(_stage_catalog(rows), FilterConfig(), thumbnails=thumbnails,
                              embeddings=([row["sha256"] for row in rows], np.resize(vectors, (len(rows), 16))))
    assert not any("have no efficientnet_lite0 embedding" in note for note in whole.notes)


def test_a_filter_on_a_half_embedded_workspace_warns_on_both_engines(tmp_path):
    """Audit AR7: after an interrupted `curate embed` (or photos ingested after it), `curate filter` ran on the
    partial cache with only a note, and the clusters that decide the split's groups missed the unembedded
    images' copies. It is a warning now, on both engines, and goes away once every image has a vector."""
    from curate.embed import EmbeddingCache, embeddable_images
    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.ingest.demo import DemoConfig, ingest_demo
    from curate.workspace import Workspace, read_catalog

    ws = Workspace(tmp_path)
    ingest_demo(ws, DemoConfig(photos=40, seed=2, image_width=64, image_height=48), images=True, workers=1)
    shas = embeddable_images(read_catalog(ws))["sha256"].tolist()
    cache = EmbeddingCache(ws, verify.EMBEDDING_BACKBONE)
    vectors = np.random.default_rng(1).normal(size=(len(shas), 16)).astype(np.float32)
    cache.append(shas[:10], vectors[:10], np.ones(10, bool))
    for engine in ("pandas", "duckdb"):
        report = run_filter(ws, FilterConfig(), engine=engine)
        unembedded = [line for line in report.warnings if "no vector yet" in line]
        assert len(unembedded) == 1, (engine, report.warnings)
        assert unembedded[0].startswith(f"`curate embed` has no vector yet for {len(shas) - 10:,} of the "
                                        f"{len(shas):,} images ingest kept")
        assert "run `curate embed`, then `curate filter` again" in unembedded[0]
    cache.append(shas[10:], vectors[10:], np.r_[np.zeros(1, bool), np.ones(len(shas) - 11, bool)])
    for engine in ("pandas", "duckdb"):  # every image tried (one unreadable to the embed): no warning
        assert not [line for line in run_filter(ws, FilterConfig(), engine=engine).warnings if "no vector" in line]
