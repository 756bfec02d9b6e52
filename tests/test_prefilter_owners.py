"""Photographers the prefilter mostly rejected (curate.prefilter.owners): named, their kept photos first in the
review queue `owners`, nothing more dropped; ordinary photographers never named."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binom

from curate import schema
from curate.prefilter.owners import ALPHA, mostly_rejected_owners, rejected_photos
from curate.prefilter.stage import PrefilterConfig
from curate.review.queues import automatic_view, build_queue
from tests.test_prefilter import DIM, run, synthetic
from tests.test_split import make_catalog


def judged_catalog(per_owner: dict[str, tuple[int, int]], kept_rejected: dict[str, int] | None = None) -> pd.DataFrame:
    """owner -> (judged, rejected) photos, the rejected ones dropped as off_topic (or, for `kept_rejected`
    of them, kept and flagged as label issues); every photo labelled chicago."""
    rows = []
    for owner, (judged, rejected) in per_owner.items():
        flagged = (kept_rejected or {}).get(owner, 0)
        for i in range(judged):
            off = i < rejected - flagged
            rows.append({"owner_id": owner, "label": "chicago", "status": schema.DROPPED if off else schema.KEPT,
                         "drop_reason": "off_topic" if off else None, "drop_stage": "prefilter" if off else None,
                         "topic_score": 0.1 if off else 0.9,
                         "is_label_issue": rejected - flagged <= i < rejected})
    return make_catalog(rows)


def test_a_photographer_with_most_photos_rejected_is_named_with_their_kept_ones():
    owners = {f"o{i}": (12, 1 if i % 3 else 2) for i in range(30)}  # ~11 % rejected: ordinary
    owners["spam"] = (30, 21)  # 70 %, 9 still kept
    table = mostly_rejected_owners(judged_catalog(owners, kept_rejected={"spam": 2}))
    assert table["owner_id"].tolist() == ["spam"]
    row = table.iloc[0]
    # 19 dropped, 2 kept but flagged as label issues (rejected, and still kept: a flag drops nothing)
    assert (row["judged"], row["rejected"], row["kept"]) == (30, 21, 11)
    assert row["labels"] == {"chicago": 11}
    assert row["rate"] == (20 * 1 + 10 * 2 + 21) / (30 * 12 + 30)  # the collection's own rate


def test_a_high_share_at_a_collection_that_rejects_as_much_is_not_named():
    """7 of 12 rejected where the collection rejects 40 % happens by chance (P ≈ 0.16): not named; the same
    share over 40 photos is (P < 0.01 / photographers tested)."""
    owners = {f"o{i}": (12, 5 if i % 2 else 4) for i in range(30)}  # 37.5 %
    owners["busy"] = (12, 7)
    assert mostly_rejected_owners(judged_catalog(owners)).empty
    assert binom.sf(6, 12, 0.375) > ALPHA / 31
    owners["busy"] = (40, 28)
    assert mostly_rejected_owners(judged_catalog(owners))["owner_id"].tolist() == ["busy"]


def test_too_few_photos_or_no_owner_are_never_named():
    owners = {f"o{i}": (12, 1) for i in range(20)}
    owners["small"] = (9, 9)  # every photo rejected, but fewer than MIN_JUDGED
    catalog = judged_catalog(owners)
    assert mostly_rejected_owners(catalog).empty
    catalog["owner_id"] = None
    assert mostly_rejected_owners(catalog).empty


def test_a_photo_the_topic_rescue_kept_is_not_rejected():
    catalog = judged_catalog({"a": (10, 0)})
    catalog["topic_doubted"] = True  # held below the cut: rejected...
    catalog.loc[:4, "topic_rescued"] = True  # ...unless the rescue kept it
    judged, rejected = rejected_photos(catalog)
    assert judged.all() and rejected.tolist() == [False] * 5 + [True] * 5


def spam_collection(seed: int = 0):
    """The prefilter tests' synthetic collection (60 photographers, 30 % off-topic photos spread over them)
    with one more photographer whose 40 photos tagged skyline are mostly off topic, a few of them half way."""
    catalog, vectors, _, truth = synthetic(seed=seed)
    rng = np.random.default_rng(seed + 100)
    directions = np.linalg.qr(np.random.default_rng(seed).normal(size=(DIM, DIM)))[0][:5]
    mix = np.where(np.arange(40) < 30, 1.0, 0.45)[:, None]  # 30 clearly off topic, 10 between
    spam = mix * directions[1] + (1 - mix) * (directions[0] + directions[2]) + 0.1 * rng.normal(size=(40, DIM))
    extra = make_catalog([{"owner_id": "spam", "label": "chicago", "tags": ["skyline"], "source_id": f"spam{i}",
                           "image_path": f"images/s{i}.jpg"} for i in range(40)])
    return pd.concat([catalog, extra], ignore_index=True), np.vstack([vectors, spam]).astype(np.float32)


def test_the_prefilter_names_the_spammer_and_drops_nothing_more():
    catalog, vectors = spam_collection()
    result, report = run(catalog, vectors, PrefilterConfig(topic="skyline"))
    spam = (result["owner_id"] == "spam").to_numpy()
    kept = (result["status"] == schema.KEPT).to_numpy()
    assert [r["owner_id"] for r in report.rejected_owners] == ["spam"]
    named = report.rejected_owners[0]
    assert named["judged"] == 40 and named["rejected"] > 20
    assert named["kept"] == int((spam & kept).sum()) > 0
    assert any("spam" in line and "curate review --queue owners" in line for line in report.warnings)
    assert "photographers mostly rejected: spam" in report.summary()
    # naming decided nothing: the same drops as the prefilter makes without the rule
    assert (result["drop_reason"].isin(["off_topic", "label_issue"]) | result["status"].eq(schema.KEPT)).all()


def test_ordinary_photographers_are_not_named():
    """60 photographers sharing the collection's 30 % off-topic photos at random: no one stands out."""
    for seed in range(3):
        catalog, vectors, _, _ = synthetic(seed=seed)
        _, report = run(catalog, vectors, PrefilterConfig(topic="skyline"))
        assert report.rejected_owners == [], seed


def test_the_owners_queue_shows_the_spammers_kept_photos_first():
    catalog, vectors = spam_collection()
    result, report = run(catalog, vectors, PrefilterConfig(topic="skyline"))
    view = automatic_view(result)
    queue = build_queue(view, "owners")
    first = view.iloc[queue.positions[:report.rejected_owners[0]["kept"]]]
    assert len(first) and (first["owner_id"] == "spam").all() and (first["status"] == schema.KEPT).all()
    assert queue.why[first.index[0]].startswith("photographer spam: the prefilter rejected")


def test_a_photographer_with_nothing_kept_is_a_note_not_a_warning():
    from curate.prefilter.owners import owners_line
    from curate.prefilter.report import PrefilterReport

    owners = {f"o{i}": (12, 1) for i in range(20)}
    owners["spam"] = (20, 20)  # every photo dropped
    table = mostly_rejected_owners(judged_catalog(owners))
    assert table["kept"].tolist() == [0]
    line = owners_line(table)
    assert "spam 20 of 20, none still kept" in line and "curate review" not in line
    report = PrefilterReport(topic="skyline", threshold=0.5, threshold_method="otsu", scored=260, tagged_kept=0,
                             tagged_dropped=0, untagged_recovered=0, untagged_dropped=0, unreadable=0,
                             label_issues=None, label_issues_dropped=0,
                             rejected_owners=[{"owner_id": "spam", "owner_name": None, "judged": 20, "rejected": 20,
                                               "kept": 0, "rate": 0.14, "labels": {}}])
    assert "mostly rejected" not in report.summary()
