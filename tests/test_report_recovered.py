"""The report's "untagged but recovered" gallery holds the photos its count counts (audit BB 7): every
untagged photo the topic cut kept, those above the cut and those it rescued below it."""

from __future__ import annotations

import numpy as np

from curate.report.data import tags_section
from tests.test_prefilter_rescue import factories, run


def test_the_recovered_gallery_counts_what_the_table_counts():
    catalog, vectors, _ = factories()
    result, report = run(catalog, vectors)
    untagged = ~result["tags"].map(lambda tags: "skyline" in tags).to_numpy()
    rescued = result["topic_rescued"].eq(True).to_numpy() & untagged
    assert rescued.any()  # the case the audit found: an untagged photo kept below the cut
    section = tags_section(result, report.to_dict(), max_gallery=10_000)["prefilter"]
    gallery = section["untagged_recovered"]
    assert gallery["total"] == section["counts"]["untagged_recovered"] == report.untagged_recovered
    shown = {photo["photo_id"] for photo in gallery["photos"]}
    assert set(result.loc[rescued, "photo_id"]) <= shown
    assert not shown & set(result.loc[~untagged, "photo_id"])
    scores = [photo["topic_score"] for photo in gallery["photos"]]
    assert scores == sorted(scores, reverse=True) and np.isfinite(scores).all()
